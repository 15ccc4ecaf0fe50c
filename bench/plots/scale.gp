# Suite 4: invalidation cost vs active caches; memslot lookup vs slots.
# input: scale_inval.csv scale_lookup.csv
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 1200,500 noenhanced font ",10"
set output outdir."/scale.png"
set multiplot layout 1,2 title "Suite 4: scale"
set logscale x
set grid xtics ytics
set key bottom right
set title "invalidation (range_start + range_end of one page), p50"
set xlabel "active caches (log scale)"
set ylabel "us"
set yrange [0:*]
f = csvdir."/scale_inval.csv"
plot f using 1:($2/1000) with linespoints lw 2 title "page of a valid cache (incl. grace period)", \
     f using 1:($5/1000) with linespoints lw 2 title "page no cache covers"
set key top left
set title "gpc_memslot_lookup, median ns/op"
set xlabel "memslots (log scale)"
set ylabel "ns"
g = csvdir."/scale_lookup.csv"
plot g using 1:2 with linespoints lw 2 lc 1 title "same gpa every time", \
     g using 1:3 with linespoints lw 2 lc 2 title "random gpa over all slots", \
     g using 1:4 with linespoints lw 1 lc 1 dt 2 title "same gpa, by thread CPU time", \
     g using 1:5 with linespoints lw 1 lc 2 dt 2 title "random gpa, by thread CPU time"
unset multiplot
