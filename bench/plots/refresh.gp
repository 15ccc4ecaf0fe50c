# Suite 3: refresh latency CDFs under invalidation storms.
# input: refresh_cdf.csv refresh_summary.csv
set datafile separator ","
set datafile columnheaders
set terminal pngcairo size 960,540 noenhanced font ",10"
set output outdir."/refresh.png"
set title "Suite 3: refresh latency (CDF); kvm_policy = retry while any invalidation is in progress"
set logscale x
set xlabel "us (log scale)"
set ylabel "fraction of refreshes completed"
set yrange [0:1]
set grid xtics ytics
set key bottom right
f = csvdir."/refresh_cdf.csv"
# How many kvm_policy refreshes completed under the unrelated storm (the
# rest gave up: livelock); its curve may be empty.
stats csvdir."/refresh_summary.csv" using \
	((strcol(1) eq "unrelated_storm" && strcol(2) eq "kvm_policy") ? $4 : NaN) \
	nooutput name "K"
set label 1 sprintf("kvm_policy under the unrelated storm: %.0f%% completed, the rest gave up (livelock)", K_max) \
	at graph 0.98, graph 0.33 right front
# solid: the library's refresh; dashed: KVM's policy (a kvm_policy curve
# that stops short of 1 is the share of refreshes that gave up: livelock)
storms = "idle unrelated_storm overlap_storm"
plot for [i=1:3] f using (strcol(1) eq "gpc_cache_refresh/".word(storms,i) ? $3/1000 : NaN):2 \
	with lines lw 2 lc i dt 1 title "gpc_cache_refresh/".word(storms,i), \
     for [i=1:3] f using (strcol(1) eq "kvm_policy/".word(storms,i) ? $3/1000 : NaN):2 \
	with lines lw 2 lc i dt 2 title "kvm_policy/".word(storms,i)
