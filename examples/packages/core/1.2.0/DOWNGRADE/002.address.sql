DROP TABLE IF EXISTS core_address;
