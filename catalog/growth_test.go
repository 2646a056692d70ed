package catalog

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestStorageGrowth(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		put := func(bucket, key, seq string, size int64, created time.Time) {
			t.Helper()
			// Created is the loader's for a new row; Modified differs, so an
			// overwrite is a new version.
			syncT(t, c, bucket, key, seq, &Object{Size: size, ETag: "e" + seq, Created: created, Modified: created.Add(time.Duration(size) * time.Second)})
		}
		// From 22:00 on the 1st to 02:00 on the 2nd.
		put("a", "old", seqN(1), 100, at(20, 15)) // before From
		put("a", "k1", seqN(1), 1, at(22, 10))
		put("a", "k1", seqN(2), 3, at(23, 50)) // overwritten: Created stays, the size is the new one
		put("a", "k2", seqN(1), 2, at(23, 0).Add(-time.Microsecond))
		put("a", "k3", seqN(1), 4, at(23, 0))
		put("a", "gone", seqN(1), 1000, at(22, 20))
		syncT(t, c, "a", "gone", seqN(2), nil) // deleted: no row, not counted
		put("a", "k4", seqN(1), 8, at(25, 30))
		put("a", "late", seqN(1), 16, at(26, 0)) // at To: not counted
		put("b", "old", seqN(1), 1000, day.AddDate(0, 0, -1))
		put("b", "k1", seqN(1), 10, at(23, 30))
		put("b", "k2", seqN(1), 20, at(24, 0)) // the day boundary
		put("c", "old", seqN(1), 50, at(21, 59))
		put("c", "k1", seqN(1), 5, at(22, 30))
		put("d", "old", seqN(1), 7, at(1, 0)) // nothing added in the range: no rows
		// Around the Unix epoch, where SQLite's times are negative.
		epoch := time.Unix(0, 0).UTC()
		put("e", "k1", seqN(1), 1, epoch.Add(-30*time.Minute))
		put("e", "k2", seqN(1), 2, epoch.Add(10*time.Minute))

		g := func(tm time.Time, bucket string, objs, bytes, totObjs, totBytes int64) Growth {
			return Growth{Time: tm, Bucket: bucket, Objects: objs, Bytes: bytes, TotalObjects: totObjs, TotalBytes: totBytes}
		}
		hourly := []Growth{
			g(at(22, 0), "a", 2, 5, 3, 105),
			g(at(23, 0), "a", 1, 4, 4, 109),
			// 00:00 on the 2nd: nothing added to a, so no row.
			g(at(25, 0), "a", 1, 8, 5, 117),
			g(at(23, 0), "b", 1, 10, 2, 1010),
			g(at(24, 0), "b", 1, 20, 3, 1030),
			g(at(22, 0), "c", 1, 5, 2, 55),
		}
		cases := []struct {
			name string
			f    GrowthFilter
			want []Growth
		}{
			{"hourly", GrowthFilter{From: at(22, 0), To: at(26, 0), Interval: time.Hour}, hourly},
			{"hourly, other zone", GrowthFilter{From: at(22, 0).In(time.FixedZone("x", -5*3600)), To: at(26, 0), Interval: time.Hour}, hourly},
			{"buckets", GrowthFilter{From: at(22, 0), To: at(26, 0), Interval: time.Hour, Buckets: []string{"b", "a", "b", "nope"}}, hourly[:5]},
			// The first interval starts at 22:00 but counts from 22:30 on:
			// k1 (22:10) is in the totals only. To cuts the last one.
			{"unaligned", GrowthFilter{From: at(22, 30), To: at(25, 30), Interval: time.Hour, Buckets: []string{"a"}}, []Growth{
				g(at(22, 0), "a", 1, 2, 3, 105),
				g(at(23, 0), "a", 1, 4, 4, 109),
			}},
			{"two days", GrowthFilter{From: at(22, 0), To: at(26, 0), Interval: 24 * time.Hour, Buckets: []string{"a", "b"}}, []Growth{
				g(at(0, 0), "a", 3, 9, 4, 109),
				g(at(24, 0), "a", 1, 8, 5, 117),
				g(at(0, 0), "b", 1, 10, 2, 1010),
				g(at(24, 0), "b", 1, 20, 3, 1030),
			}},
			{"one interval", GrowthFilter{From: at(22, 0), To: at(26, 0)}, []Growth{
				g(at(22, 0), "a", 4, 17, 5, 117),
				g(at(22, 0), "b", 2, 30, 3, 1030),
				g(at(22, 0), "c", 1, 5, 2, 55),
			}},
			{"one interval, b", GrowthFilter{From: at(23, 30), To: at(24, 0), Buckets: []string{"b"}}, []Growth{
				g(at(23, 30), "b", 1, 10, 2, 1010),
			}},
			{"nothing added", GrowthFilter{From: at(26, 0).Add(time.Microsecond), To: at(48, 0), Interval: time.Hour}, nil},
			{"epoch", GrowthFilter{From: epoch.Add(-time.Hour), To: epoch.Add(time.Hour), Interval: time.Hour}, []Growth{
				g(epoch.Add(-time.Hour), "e", 1, 1, 1, 1),
				g(epoch, "e", 1, 2, 2, 3),
			}},
		}
		for _, tc := range cases {
			got, err := c.StorageGrowth(ctx, tc.f)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
			}
		}
		// Interval 0 keeps From as given, in UTC.
		from := at(22, 0).In(time.FixedZone("x", 3600))
		got, err := c.StorageGrowth(ctx, GrowthFilter{From: from, To: at(23, 0), Buckets: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []Growth{g(at(22, 0), "c", 1, 5, 2, 55)}; !reflect.DeepEqual(got, want) || got[0].Time.Location() != time.UTC {
			t.Errorf("zoned From: got %+v, want %+v", got, want)
		}
	})
}

func TestStorageGrowthInvalid(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	invalid := []GrowthFilter{
		{To: to},
		{From: from},
		{From: from, To: from},
		{From: to, To: from},
		{From: from, To: to, Interval: -time.Hour},
		{From: from, To: to, Interval: 500 * time.Millisecond},
		{From: from, To: to, Interval: 1500 * time.Millisecond},
		{From: from, To: to, Buckets: []string{"a", ""}},
		{From: from, To: to, Buckets: []string{"a\x00"}},
		{From: from, To: to, Buckets: []string{"\xff"}},
	}
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		for _, f := range invalid {
			if got, err := c.StorageGrowth(testCtx(t), f); !errors.Is(err, ErrInvalidFilter) || got != nil {
				t.Errorf("StorageGrowth(%+v) = %v, %v; want ErrInvalidFilter", f, got, err)
			}
		}
	})
}
