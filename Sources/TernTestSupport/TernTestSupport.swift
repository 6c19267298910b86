// TernTestSupport
