-- 008_org_display_name.sql — the name customers see: the public status page's
-- header and its Atom feed's author show an organisation's display name
-- ("Acme Cloud") where one is set (incidentctl org rename), else its name.
ALTER TABLE orgs ADD COLUMN display_name text
    CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 200);
