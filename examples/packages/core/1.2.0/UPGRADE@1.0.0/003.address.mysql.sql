CREATE TABLE IF NOT EXISTS core_address (
  id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INTEGER NOT NULL,
  line1 VARCHAR(200) NOT NULL,
  city VARCHAR(100) NOT NULL,
  country CHAR(2) NOT NULL,
  CONSTRAINT core_address_customer_fk FOREIGN KEY (customer_id) REFERENCES core_customer (id)
) ENGINE = InnoDB;
