echo "billing 1.1.0 installed"
