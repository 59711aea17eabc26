# Redis key names as src/common/keys.c makes them (doc/redis.md,
# "Partitions"), in plain bash so that a test may name hundreds of keys
# quickly. A second implementation on purpose: t/unit checks the C one, the
# tests check the two agree by finding the programs' keys with this one.

PARTITION_TAGS=(u0 3 dj j d2 2 uh k ly 1 uv u 9s 0 dt t)

# crc16 STRING: sets CRC16 to the string's CRC16-CCITT (XMODEM), as Redis Cluster's
crc16() {
	local s=$1 i b k crc=0
	for ((i = 0; i < ${#s}; i++)); do
		printf -v b '%d' "'${s:i:1}"
		crc=$((crc ^ (b << 8)))
		for ((k = 0; k < 8; k++)); do
			if ((crc & 0x8000)); then crc=$((((crc << 1) ^ 0x1021) & 0xFFFF)); else crc=$(((crc << 1) & 0xFFFF)); fi
		done
	done
	CRC16=$crc
}

# partition_of KIND ID: the partition of a session id, or of a message id
# for the kinds of a message (its 13th character, when it is one we mint)
partition_of() {
	case $1 in
	stream:meta: | stream:chunks: | stream:lock: | stream:cancel:)
		if [ ${#2} -eq 32 ] && [[ ${2:12:1} == [0-9a-f] ]]; then
			echo $((16#${2:12:1}))
			return
		fi ;;
	esac
	crc16 "$2"
	echo $((CRC16 % 16))
}

# key KIND ID: KIND{tag}ID, e.g. key stream:meta: "$mid"
key() { echo "$1{${PARTITION_TAGS[$(partition_of "$1" "$2")]}}$2"; }

# jobs_key P / archive_key P: partition P's job stream and archive stream
jobs_key() { echo "jobs:{${PARTITION_TAGS[$1]}}"; }
archive_key() { echo "archive:{${PARTITION_TAGS[$1]}}"; }
# message_jobs_key M: the job stream of message M's partition
message_jobs_key() { jobs_key "$(partition_of stream:meta: "$1")"; }
# session_in_partition P PREFIX: the first session id PREFIX-N of partition P
session_in_partition() {
	local i
	for ((i = 1; ; i++)); do
		[ "$(partition_of stream:session: "$2-$i")" != "$1" ] || { echo "$2-$i"; return; }
	done
}
