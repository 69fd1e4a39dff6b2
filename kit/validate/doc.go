// Package validate collects field errors, so that one response names every
// bad field of a request, and holds the checks every service makes on
// input from outside: identifiers and text.
//
//	var v validate.Fields
//	id := v.UUID("product_id", req.ProductID)
//	v.Text("name", req.Name, 200)
//	if err := v.Err(); err != nil {
//		return err // errs.Invalid with one errs.FieldError per bad field
//	}
//
// Services add their own rules with Add; the checks here are the ones that
// must be the same everywhere, such as refusing NUL bytes and invalid UTF-8
// before they reach SQL.
package validate
