DROP TABLE IF EXISTS billing_tax_rate;
