package record

// Internals that the tests, in package record_test so that they can use recordtest, check
// directly: they exist only in test builds.
var (
	EmptyRoot = emptyRoot
	KeyHash   = keyHash
	NoteText  = noteText
)
