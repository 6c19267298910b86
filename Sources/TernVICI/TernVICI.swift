// TernVICI
