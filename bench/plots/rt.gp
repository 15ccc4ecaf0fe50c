# Suite 5: real-time reader latency, p99 and max per case.
# input: rt_summary.csv
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outdir."/rt.png"
set title "Suite 5: reader latency next to a preempted / interrupted writer (us)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set ylabel "us (log scale)"
set grid ytics
set key top left
f = csvdir."/rt_summary.csv"
plot f using ($4/1000):xtic(1) title "p50", \
     f using ($5/1000) title "p99", \
     f using ($6/1000) title "max"
