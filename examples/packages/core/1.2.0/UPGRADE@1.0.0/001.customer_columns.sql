-- status (from 1.1.0) and phone (from 1.2.0) in one statement, in the same column order.
ALTER TABLE core_customer
  ADD COLUMN IF NOT EXISTS status VARCHAR(20) NOT NULL DEFAULT 'active',
  ADD COLUMN IF NOT EXISTS phone VARCHAR(40);
