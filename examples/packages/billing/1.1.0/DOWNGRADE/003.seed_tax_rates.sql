DELETE FROM billing_tax_rate WHERE country IN ('DE', 'FR', 'NL');
