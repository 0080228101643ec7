echo "billing: preinstall"
