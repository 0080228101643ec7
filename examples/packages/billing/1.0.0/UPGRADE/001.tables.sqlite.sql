CREATE TABLE IF NOT EXISTS billing_invoice (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL,
  number VARCHAR(30) NOT NULL,
  amount NUMERIC(12, 2) NOT NULL,
  issued_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  created_by INTEGER,
  CONSTRAINT billing_invoice_number_uq UNIQUE (number),
  CONSTRAINT billing_invoice_customer_fk FOREIGN KEY (customer_id) REFERENCES core_customer (id),
  CONSTRAINT billing_invoice_created_by_fk FOREIGN KEY (created_by) REFERENCES auth_user (id)
);

CREATE TABLE IF NOT EXISTS billing_payment (
  id INTEGER PRIMARY KEY,
  invoice_id INTEGER NOT NULL,
  amount NUMERIC(12, 2) NOT NULL,
  paid_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT billing_payment_invoice_fk FOREIGN KEY (invoice_id) REFERENCES billing_invoice (id)
);
