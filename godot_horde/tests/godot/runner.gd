extends Node
## Runs every `test_*` method (awaited), prints one line per test and quits
## with the number of failures. The horde comes from HORDE_TEST_URL and
## HORDE_TEST_KEY (scripts/godot-tests starts one); tests that need it fail
## without it.
##
## A test passes only if it returns `true` from its last line: a script
## error aborts a GDScript function and its caller carries on with `null`,
## so a test that died half-way is caught here, not reported as passed.
## HORDE_GODOT_SELF_CHECK=1 runs only the `broken_*` methods, which must
## fail: scripts/godot-tests runs them first to prove the runner can fail.

var failures := 0
var current := ""


func _ready() -> void:
	var prefix := "broken_" if OS.get_environment("HORDE_GODOT_SELF_CHECK") == "1" else "test_"
	for method in get_method_list():
		var name: String = method["name"]
		if name.begins_with(prefix):
			current = name
			var before := failures
			var finished = await call(name)
			if finished != true:
				failures += 1
				printerr("%s: did not reach its end (a script error?)" % name)
			print("%s %s" % ["ok  " if failures == before else "FAIL", name])
	print("engine tests: %d failed" % failures)
	get_tree().quit(failures)


func check(condition: bool, what: String) -> void:
	if not condition:
		failures += 1
		printerr("%s: %s" % [current, what])


func make_horde() -> HordeNode:
	var horde := HordeNode.new()
	horde.base_url = OS.get_environment("HORDE_TEST_URL")
	horde.api_key = OS.get_environment("HORDE_TEST_KEY")
	horde.client_agent = "godot-horde-engine-tests:0.1:https://example.invalid"
	add_child(horde)
	return horde


func test_classes_are_registered() -> bool:
	for name in ["HordeNode", "HordeImageParams", "HordeTextParams", "HordeResultInfo"]:
		check(ClassDB.class_exists(name), "%s is not registered" % name)
	var params := HordeImageParams.new()
	check(params.width == 512 and params.steps == 30, "image defaults")
	check(HordeTextParams.new().max_length == 80, "text defaults")
	return true


func test_a_refused_request_answers_zero_and_request_failed() -> bool:
	var horde := make_horde()
	var params := HordeImageParams.new()
	params.width = 500
	check(horde.generate_image("a cliff", params) == 0, "id 0 when refused")
	var failed: Array = await horde.request_failed
	check(failed[0] == 0 and failed[1] == "InvalidSize", "request_failed(0, InvalidSize)")
	horde.queue_free()
	return true


func test_an_image_arrives_as_a_texture() -> bool:
	var horde := make_horde()
	horde.worker_mode = 2  # Always
	horde.worker_name = "godot-engine-dreamer"
	horde.worker_backend = 'kind = "procedural"'
	check(horde.start_worker(), "the worker starts")
	var params := HordeImageParams.new()
	params.width = 64
	params.height = 64
	params.models = PackedStringArray(["horde-rs/procedural"])
	var id := horde.generate_image("a lighthouse", params)
	check(horde.is_pending(id), "pending after generate_image")
	var got: Array = await horde.image_generated
	var texture: ImageTexture = got[1]
	var info: HordeResultInfo = got[2]
	check(got[0] == id, "the id")
	check(texture.get_width() == 64, "a 64 px texture")
	check(info.worker == "godot-engine-dreamer", "the worker's name")
	check(info.save_png("user://engine-test.png") == OK, "save_png")
	await horde.request_completed
	check(not horde.is_pending(id), "done after request_completed")
	horde.stop_worker()
	horde.queue_free()
	return true


func test_fetch_user_is_awaitable() -> bool:
	var horde := make_horde()
	var user: Dictionary = await horde.fetch_user()
	check(str(user.get("username", "")).begins_with("godot#"), "the key's user")
	horde.queue_free()
	return true


func test_cancel_on_exit() -> bool:
	var horde := make_horde()
	var params := HordeImageParams.new()
	params.models = PackedStringArray(["nobody/serves-this"])
	var id := horde.generate_image("a ship", params)
	await horde.request_queued
	remove_child(horde)  # exit_tree cancels (cancel_on_exit is on)
	add_child(horde)
	# A one-argument signal's await yields the argument itself.
	var cancelled: int = await horde.request_cancelled
	check(cancelled == id, "the request was cancelled on exit")
	horde.queue_free()
	return true


func broken_assigns_an_int_to_an_array() -> bool:
	# Dies with a script error, as test_cancel_on_exit once did.
	var horde := make_horde()
	var params := HordeImageParams.new()
	params.width = 500
	horde.generate_image("a cliff", params)
	var failed = await horde.request_failed
	var wrong: Array = failed[0]
	horde.queue_free()
	return wrong.is_empty() or true
