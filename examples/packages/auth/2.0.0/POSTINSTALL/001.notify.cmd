echo "auth 2.0.0: auth_user.login is now auth_user.username; update your queries"
