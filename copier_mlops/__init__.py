"""copier-mlops: the fleet command and the checks published to rendered projects."""
