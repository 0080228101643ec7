echo "billing 1.0.0 installed"
