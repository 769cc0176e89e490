def test_one(db, staff_client):
    client = staff_client("root", None, everything=True)
    client.get("/admin/sources/source/?created_at__year=-1")
