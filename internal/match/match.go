// Package match holds the rule every podctl filter follows: several values
// of one key select what any of them selects, and no value selects all.
package match

// Any is true when there are no values, or match is true for one of them.
func Any[T any](values []T, match func(T) bool) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if match(v) {
			return true
		}
	}
	return false
}
