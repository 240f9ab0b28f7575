-- The cloud film's second-factor form carries a one-time token (share-links.ts, issueFormToken):
-- HMAC-signed, bound to its link and expiring within minutes, so issuing one writes nothing. A POST
-- spends it here; the same token again (the browser resubmitting the form from its history on a
-- shared phone) finds it spent and opens nothing. Rows are needed only until the token expires.
CREATE TABLE share_link_form_uses (
  nonce       text PRIMARY KEY,
  link_id     bigint NOT NULL REFERENCES share_links (id),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX share_link_form_uses_by_expiry ON share_link_form_uses (expires_at);
