DROP TABLE IF EXISTS billing_payment;
DROP TABLE IF EXISTS billing_invoice;
