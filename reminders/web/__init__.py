"""The front desk's web page: server-rendered pages served by the API process."""
