-- Large JSON values (DSP negotiation and transfer messages, agreements with their signatures,
-- outbox bodies, ledger entries: 2–10 kB each) are compressed when stored
-- out of line.  PostgreSQL's default, pglz, was about 1 % of the machine's
-- CPU in the negotiation benchmark; lz4 compresses the same values several
-- times faster.  Only new values use it: nothing is rewritten.  A
-- PostgreSQL built without lz4 keeps pglz (the statement is skipped).
DO $$
BEGIN
    ALTER TABLE negotiations ALTER COLUMN offer SET COMPRESSION lz4,
        ALTER COLUMN agreement SET COMPRESSION lz4,
        ALTER COLUMN signatures SET COMPRESSION lz4;
    ALTER TABLE negotiation_messages ALTER COLUMN body SET COMPRESSION lz4,
        ALTER COLUMN reply SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE outbox_dead ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE ledger_entries ALTER COLUMN entry SET COMPRESSION lz4;
    ALTER TABLE transfer_messages ALTER COLUMN body SET COMPRESSION lz4,
        ALTER COLUMN reply SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL: values stay pglz-compressed';
END $$;
