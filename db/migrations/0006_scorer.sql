-- SPDX-License-Identifier: Apache-2.0
-- Reserved for the scorer service's schema changes.
SELECT 1;
