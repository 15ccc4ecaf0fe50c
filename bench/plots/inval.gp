# Suite 2: blocking invalidation latency vs busy readers, and its CDF.
# input: inval_summary.csv inval_cdf.csv
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 1200,500 noenhanced font ",10"
set output outdir."/inval.png"
set multiplot layout 1,2 title "Suite 2: blocking invalidation (range_start) vs urcu_memb synchronize_rcu"
f = csvdir."/inval_summary.csv"
set logscale y
set ylabel "us (log scale)"
set xlabel "busy readers"
set xtics 1
set xrange [-0.2:2.2]
set grid ytics
set key top left
set title "p50 (solid) and p99 (dashed)"
schemes = "srcu rwlock urcu_memb_sync"
plot for [i=1:3] f using 2:(strcol(1) eq word(schemes,i) ? $4/1000 : NaN) \
	with linespoints lw 2 lc i pt 7 title word(schemes,i)." p50", \
     for [i=1:3] f using 2:(strcol(1) eq word(schemes,i) ? $5/1000 : NaN) \
	with linespoints lw 1 lc i pt 6 dt 2 title word(schemes,i)." p99"
set title "CDF, one busy reader"
unset xrange
set xtics autofreq
unset logscale y
set logscale x
set xlabel "us (log scale)"
set ylabel "fraction"
set yrange [0:1]
set key bottom right
g = csvdir."/inval_cdf.csv"
cases = "srcu_1r rwlock_1r urcu_memb_sync_1r"
plot for [i=1:3] g using (strcol(1) eq word(cases,i) ? $3/1000 : NaN):2 \
	with lines lw 2 lc i title word(cases,i)
unset multiplot
