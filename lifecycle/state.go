package lifecycle

import (
	"errors"
	"fmt"
	"strings"
)

// State is where a pod is in its life. It is derived, never stored: a pod's
// state is the state folder it sits in plus whether its lock is held.
type State int

// The states of a pod. Their String values are the names podctl prints:
// one word each, with "-" between its parts, so that a state is one field
// of a line split on blanks, one JSON key and one filter value alike.
const (
	Embryo State = iota
	Preparing
	AbortedPrepare
	Prepared
	Running
	Deleting
	ExitedDeleting
	Exited
	ExitedGarbage
	Garbage
)

var stateNames = [...]string{
	Embryo:         "embryo",
	Preparing:      "preparing",
	AbortedPrepare: "aborted-prepare",
	Prepared:       "prepared",
	Running:        "running",
	Deleting:       "deleting",
	ExitedDeleting: "exited-deleting",
	Exited:         "exited",
	ExitedGarbage:  "exited-garbage",
	Garbage:        "garbage",
}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText makes a State print as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseState returns the State named s. Besides the names String prints
// (exited-garbage), it takes them with a space or "_" for the dash
// (exited garbage, exited_garbage): the names podctl printed, and wrote
// to pods' history files, before they were one word.
func ParseState(s string) (State, error) {
	n := strings.NewReplacer(" ", "-", "_", "-").Replace(s)
	for i, name := range stateNames {
		if name == n {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown pod state %q", s)
}

// States lists every state in lifecycle order.
func States() []State {
	out := make([]State, len(stateNames))
	for i := range out {
		out[i] = State(i)
	}
	return out
}

// IsAfterRun reports whether a pod in this state has run and is gone.
func (s State) IsAfterRun() bool {
	return s == Exited || s == ExitedGarbage || s == ExitedDeleting
}

// IsFinished reports whether a pod in this state will never run again.
func (s State) IsFinished() bool {
	switch s {
	case Exited, ExitedGarbage, ExitedDeleting, AbortedPrepare, Garbage, Deleting:
		return true
	}
	return false
}

// A state folder under <datadir>/pods. The lock tells the states in one
// folder apart:
//
//	folder           lock held          lock free
//	embryo/          embryo             embryo
//	prepare/         preparing          aborted-prepare
//	prepared/        prepared           prepared
//	run/             running            exited
//	exited-garbage/  exited-deleting    exited-garbage
//	garbage/         deleting           garbage
type folder int

const (
	embryoDir folder = iota
	prepareDir
	preparedDir
	runDir
	exitedGarbageDir
	garbageDir
	numFolders
)

var folderNames = [numFolders]string{"embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"}

func (f folder) String() string { return folderNames[f] }

// stateOf maps a folder and the lock to a state.
func stateOf(f folder, locked bool) State {
	switch f {
	case embryoDir:
		return Embryo
	case prepareDir:
		if locked {
			return Preparing
		}
		return AbortedPrepare
	case preparedDir:
		return Prepared
	case runDir:
		if locked {
			return Running
		}
		return Exited
	case exitedGarbageDir:
		if locked {
			return ExitedDeleting
		}
		return ExitedGarbage
	default:
		if locked {
			return Deleting
		}
		return Garbage
	}
}

// A transition moves a pod from one folder to another. The "from" state is
// the state the caller sees while holding the pod's exclusive lock, which is
// why Running and Preparing never appear here: whoever holds that lock is
// the creator or the stage1, and they are the ones allowed to move the pod.
type transition struct {
	from folder
	to   folder
}

// transitions is the table of every legal move. The key is the state as seen
// by the mover (who holds the exclusive lock), the value the folders.
var transitions = map[[2]State]transition{
	{Embryo, Preparing}:       {embryoDir, prepareDir},
	{Embryo, Garbage}:         {embryoDir, garbageDir},
	{Preparing, Prepared}:     {prepareDir, preparedDir},
	{Preparing, Running}:      {prepareDir, runDir},
	{Preparing, Garbage}:      {prepareDir, garbageDir},
	{AbortedPrepare, Garbage}: {prepareDir, garbageDir},
	{Prepared, Running}:       {preparedDir, runDir},
	{Prepared, Garbage}:       {preparedDir, garbageDir},
	{Exited, ExitedGarbage}:   {runDir, exitedGarbageDir},
}

// ErrInvalidTransition is wrapped by every TransitionError.
var ErrInvalidTransition = errors.New("invalid pod state transition")

// TransitionError is returned when a pod is asked to move to a state it
// cannot reach from the one it is in.
type TransitionError struct {
	UUID     string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("pod %s is %s, it cannot become %s", e.UUID, e.From, e.To)
}

// Unwrap lets errors.Is match ErrInvalidTransition.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }
