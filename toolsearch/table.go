package toolsearch

import "hash/maphash"

// table maps byte strings to int32 values. It is an open-addressing hash table with linear
// probing whose keys are packed into one arena, used instead of map[string]int32 because
// Build looks up every word of every tool: lookups of short keys cost half as much, and a table
// of thousands of keys is three allocations with no pointers for the collector to scan, not one
// string per key. Keys are never empty. Once filled, any number of goroutines may call get.
type table struct {
	seed  maphash.Seed
	slots []slot // a power of two of them, at most three quarters in use
	arena []byte
	count int
}

// slot is one key of a table; len 0 marks an empty slot.
type slot struct {
	hash uint32 // low bits of the key's hash
	len  uint32
	off  uint32 // the key is arena[off:off+len]
	val  int32
}

// newTable returns a table with room for about n keys of arenaBytes bytes in all.
func newTable(n, arenaBytes int) *table {
	size := 16
	for 3*size < 4*n {
		size *= 2
	}
	return &table{seed: maphash.MakeSeed(), slots: make([]slot, size), arena: make([]byte, 0, arenaBytes)}
}

// get returns the value of key and whether it is there.
func (t *table) get(key []byte) (int32, bool) {
	if i, ok := t.find(key); ok {
		return t.slots[i].val, true
	}
	return 0, false
}

// find returns the slot of key and whether it is there.
func (t *table) find(key []byte) (int, bool) {
	h := uint32(maphash.Bytes(t.seed, key))
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.len == 0 {
			return 0, false
		}
		if s.hash == h && int(s.len) == len(key) && string(t.arena[s.off:s.off+s.len]) == string(key) {
			return int(i), true
		}
	}
}

// put adds key, which must not be there yet and must not be empty, with value val.
func (t *table) put(key []byte, val int32) {
	if 4*(t.count+1) > 3*len(t.slots) {
		t.grow()
	}
	off := uint32(len(t.arena))
	t.arena = append(t.arena, key...)
	t.insert(slot{hash: uint32(maphash.Bytes(t.seed, key)), len: uint32(len(key)), off: off, val: val})
	t.count++
}

func (t *table) insert(s slot) {
	mask := uint32(len(t.slots) - 1)
	i := s.hash & mask
	for t.slots[i].len != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, 2*len(old))
	for _, s := range old {
		if s.len != 0 {
			t.insert(s)
		}
	}
}

// set gives key the value val, adding key if it is not there.
func (t *table) set(key []byte, val int32) {
	if i, ok := t.find(key); ok {
		t.slots[i].val = val
		return
	}
	t.put(key, val)
}
