package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ObjectID names one object: its group, kind, namespace and name. The version is kept apart
// (Entry.Version) because the same object may be applied at another version later.
type ObjectID struct {
	Group     string `json:"g,omitempty"`
	Kind      string `json:"k"`
	Namespace string `json:"ns,omitempty"`
	Name      string `json:"n"`
}

// String renders the id as Kind namespace/name (group-qualified for non-core groups).
func (id ObjectID) String() string {
	kind := id.Kind
	if id.Group != "" {
		kind += "." + id.Group
	}
	if id.Namespace == "" {
		return kind + " " + id.Name
	}
	return kind + " " + id.Namespace + "/" + id.Name
}

// IDOf returns the id of an object.
func IDOf(o *unstructured.Unstructured) ObjectID {
	gvk := o.GroupVersionKind()
	return ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Entry is one object in an environment's inventory: what ferry applied and the hash of the
// desired state it applied, so that an unchanged object need not be sent again.
type Entry struct {
	ObjectID
	Version string `json:"v"`
	Hash    string `json:"h"`
}

// GroupVersionKind returns the entry's GVK.
func (e Entry) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
}

// Inventory is the set of objects ferry applied for an environment, sorted by id.
type Inventory []Entry

// NewInventory returns the inventory of objs, each with its DesiredHash.
func NewInventory(objs []*unstructured.Unstructured) (Inventory, error) {
	inv := make(Inventory, 0, len(objs))
	for _, o := range objs {
		h, err := DesiredHash(o)
		if err != nil {
			return nil, err
		}
		inv = append(inv, Entry{ObjectID: IDOf(o), Version: o.GroupVersionKind().Version, Hash: h})
	}
	inv.sort()
	return inv, nil
}

func (inv Inventory) sort() {
	sort.Slice(inv, func(i, j int) bool { return inv[i].ObjectID.less(inv[j].ObjectID) })
}

func (id ObjectID) less(o ObjectID) bool {
	a := []string{id.Group, id.Kind, id.Namespace, id.Name}
	b := []string{o.Group, o.Kind, o.Namespace, o.Name}
	return strings.Join(a, "\x00") < strings.Join(b, "\x00")
}

// Index returns the entries by id.
func (inv Inventory) Index() map[ObjectID]Entry {
	m := make(map[ObjectID]Entry, len(inv))
	for _, e := range inv {
		m[e.ObjectID] = e
	}
	return m
}

// Removed returns the entries of old that are not in current: the objects to prune.
func Removed(old, current Inventory) Inventory {
	keep := current.Index()
	var out Inventory
	for _, e := range old {
		if _, ok := keep[e.ObjectID]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// DesiredHash returns the sha256 of an object's desired state as ferry renders it (canonical
// JSON: encoding/json sorts map keys). Two renders of the same object hash alike.
func DesiredHash(o *unstructured.Unstructured) (string, error) {
	data, err := json.Marshal(o.Object)
	if err != nil {
		return "", fmt.Errorf("%s: hash: %w", IDOf(o), err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}
