package product

// AppendProductJSON exposes the Get encoder to the tests that hold it equal
// to encoding/json.
var AppendProductJSON = appendProductJSON

// AppendHTTPDate exposes the Last-Modified formatter to the test that holds
// it equal to time.Format.
var AppendHTTPDate = appendHTTPDate
