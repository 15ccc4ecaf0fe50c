# Suite 1: fast path, ns/op per thread for each contender and configuration,
# by the wall clock (what the ratios use) and by the threads' CPU time.
# Run by bench/bench: gnuplot -e "csvdir='DIR'; outdir='DIR'" fastpath.gp
# input: fastpath_summary.csv
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 1400,540 noenhanced font ",10"
set output outdir."/fastpath.png"
set multiplot layout 1,2 title "Suite 1: fast path = begin + check + 8-byte store + end (ns/op per thread, median of rounds)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.1:1000]
set ylabel "ns per op (log scale)"
set grid ytics
set key top left
f = csvdir."/fastpath_summary.csv"
do for [panel=0:1] {
	set title (panel == 0 ? "by the wall clock (the ratios)" : "by the threads' CPU time (what other load cannot inflate)")
	b = 2 + 3 * panel
	plot f using b:xtic(1) title "1 thread", \
	     f using b+1 title "2 threads, one shared cache", \
	     f using b+2 title "2 threads, a cache each", \
	     f using ($0-0.3):b:(sprintf("%.3g",column(b))) with labels offset 0,0.7 notitle, \
	     f using ($0):b+1:(sprintf("%.3g",column(b+1))) with labels offset 0,0.7 notitle, \
	     f using ($0+0.3):b+2:(sprintf("%.3g",column(b+2))) with labels offset 0,0.7 notitle
}
unset multiplot
