UPDATE auth_user
SET email = (SELECT c.email FROM core_customer c WHERE c.id = auth_user.customer_id)
WHERE email IS NULL;
