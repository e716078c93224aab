"""What the decision uses: one controlled acoustic change at a time, verified, against identity resynthesis."""
