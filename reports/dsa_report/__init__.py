"""dsa-report: reads dsa-bench results (schema version 1) and writes reports, regression
verdicts, cost per token and verdicts on DeepSeek Sparse Attention's published claims."""
