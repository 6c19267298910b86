// TernPlatform
