-- 013_webhook_previous_secret.sql — a rotated secret keeps signing beside
-- the new one for 24 hours (Standard Webhooks: several space-separated
-- signatures, the receiver accepts any it can verify), so a receiver can
-- switch to the new secret without refusing deliveries meanwhile.  Rotating
-- again within the window drops the older one.
ALTER TABLE webhooks
    ADD COLUMN previous_secret text,
    ADD COLUMN previous_secret_until timestamptz;
