package product

// AppendProductJSON exposes the Get encoder to the tests that hold it equal
// to encoding/json.
var AppendProductJSON = appendProductJSON
