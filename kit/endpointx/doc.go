// Package endpointx adapts typed functions to go-kit's untyped endpoints, so
// a service's endpoint layer is written with its own request and response
// types and no type assertions, while every transport and middleware still
// sees a plain endpoint.Endpoint.
package endpointx
