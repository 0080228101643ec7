INSERT INTO billing_tax_rate (country, rate) VALUES
  ('DE', 19.00),
  ('FR', 20.00),
  ('NL', 21.00);
