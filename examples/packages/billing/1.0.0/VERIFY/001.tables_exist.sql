SELECT count(*) FROM billing_invoice;
SELECT count(*) FROM billing_payment;
SELECT count(*) FROM billing_open_invoice_v;
