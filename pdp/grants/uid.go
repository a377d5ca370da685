package grants

import (
	"strconv"

	"github.com/cedar-policy/cedar-go/types"
)

// String is the Cedar form, e.g. Agent::"ns/sa".
func (u UID) String() string { return u.Type + "::" + strconv.Quote(u.ID) }

// Cedar converts u to a cedar-go entity reference.
func (u UID) Cedar() types.EntityUID {
	return types.NewEntityUID(types.EntityType(u.Type), types.String(u.ID))
}

// FromCedar converts a cedar-go entity reference.
func FromCedar(e types.EntityUID) UID { return UID{Type: string(e.Type), ID: string(e.ID)} }
