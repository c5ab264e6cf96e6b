-- 0004: a generation number bumped by every change that can alter a search
-- result, so brokers can cache answers and drop them the moment anything
-- they depend on changes (even when another replica made the change).

CREATE TABLE catalog_generation (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    gen bigint NOT NULL DEFAULT 0
);
INSERT INTO catalog_generation DEFAULT VALUES;

CREATE FUNCTION catalog_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_generation SET gen = gen + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER datasets_gen AFTER INSERT OR UPDATE OR DELETE ON datasets
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_offers_gen AFTER INSERT OR UPDATE OR DELETE ON catalog_offers
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER offer_visibility_gen AFTER INSERT OR UPDATE OR DELETE ON offer_visibility
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER participants_gen AFTER INSERT OR UPDATE OR DELETE ON participants
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_participants_gen AFTER INSERT OR UPDATE OR DELETE ON catalog_participants
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
