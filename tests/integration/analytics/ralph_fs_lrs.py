# SPDX-License-Identifier: Apache-2.0
"""Run the Ralph LRS (PyPI ralph-malph) on its filesystem backend for the analytics tests:
python ralph_fs_lrs.py HOST PORT. Ralph's fs backend writes statements with operation type
INDEX, which refuses a file that exists, so only the first POST would ever be stored; here
writes append instead (the statements are still validated by Ralph's API, unchanged)."""
import sys

import uvicorn
from ralph.backends.data import fs
from ralph.backends.data.base import BaseOperationType

_write = fs.FSDataBackend.write


def _append(self, data, target=None, chunk_size=None, ignore_errors=False, operation_type=None):
    if operation_type in (None, BaseOperationType.CREATE, BaseOperationType.INDEX):
        operation_type = BaseOperationType.APPEND
    return _write(self, data, target, chunk_size, ignore_errors, operation_type)


fs.FSDataBackend.write = _append
uvicorn.run("ralph.api:app", host=sys.argv[1], port=int(sys.argv[2]), log_level="info")
