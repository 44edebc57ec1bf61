-- SPDX-License-Identifier: Apache-2.0
-- Reserved for the gateway_notifier service's schema changes.
SELECT 1;
