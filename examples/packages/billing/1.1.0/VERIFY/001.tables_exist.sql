SELECT id, number, amount, currency FROM billing_invoice WHERE 1 = 0;
SELECT count(*) FROM billing_payment;
SELECT count(*) FROM billing_tax_rate;
SELECT count(*) FROM billing_open_invoice_v;
