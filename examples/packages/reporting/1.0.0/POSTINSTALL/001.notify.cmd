echo "reporting 1.0.0 installed: see reporting_revenue_v"
