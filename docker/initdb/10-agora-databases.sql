-- Run once by the postgres image on an empty data volume (after
-- POSTGRES_DB=agora_broker is created): one database per connector.
CREATE DATABASE agora_city OWNER agora;
CREATE DATABASE agora_mobility OWNER agora;
