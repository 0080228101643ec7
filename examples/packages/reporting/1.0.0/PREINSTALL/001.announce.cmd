echo "reporting: preinstall"
