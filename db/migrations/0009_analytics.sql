-- SPDX-License-Identifier: Apache-2.0
-- Reserved for the analytics service's schema changes.
SELECT 1;
