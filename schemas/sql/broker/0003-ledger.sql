-- 0003: the clearing-house ledger (docs/LEDGER.md).
--
-- An append-only log of canonical JSON entries hashed into an RFC 6962
-- Merkle tree.  Appends run inside the caller's transaction under a
-- transaction-scoped advisory lock, so indices are gapless and there is a
-- single writer however many broker replicas run.  ledger_head carries the
-- tree's state after the last committed append (size, root, and the roots
-- of its perfect subtrees, so an append hashes O(log n) nodes); signed tree
-- heads are made from it by the sequencer.

CREATE TABLE ledger_entries (
    idx         bigint PRIMARY KEY CHECK (idx >= 0),
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    entry       jsonb NOT NULL,          -- the entry; its JCS form is what is hashed
    leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),  -- SHA-256(0x00 || JCS(entry))
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_kind ON ledger_entries (kind, idx);

-- One row: the tree after the last committed append.
CREATE TABLE ledger_head (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    tree_size   bigint NOT NULL CHECK (tree_size >= 0),
    root_hash   bytea NOT NULL CHECK (length(root_hash) = 32),
    -- roots of the perfect subtrees of the tree, largest first: one per
    -- set bit of tree_size, 32 bytes each
    frontier    bytea NOT NULL
);
INSERT INTO ledger_head (tree_size, root_hash, frontier)
    VALUES (0, sha256(''::bytea), ''::bytea);

-- Signed tree heads: signature is a compact JWS (EdDSA, kid = the broker's
-- key) over the JCS form of {"treeSize","timestamp","rootHash"}, with
-- timestamp rendered as RFC 3339 UTC to the second (signed_at is exactly
-- that second).
CREATE TABLE ledger_sth (
    tree_size   bigint PRIMARY KEY CHECK (tree_size >= 0),
    root_hash   bytea NOT NULL CHECK (length(root_hash) = 32),
    signed_at   timestamptz NOT NULL,
    signature   text NOT NULL
);

-- Entries and signed heads are never changed or removed.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_sth_append_only BEFORE UPDATE OR DELETE ON ledger_sth
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_sth_no_truncate BEFORE TRUNCATE ON ledger_sth
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
